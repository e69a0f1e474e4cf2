export { usernamesById } from './lookup.ts';
export {
  type AuthUser,
  authenticateToken,
  createToken,
  createUser,
  findUserByName,
  isReservedName,
  isUsername,
  parseToken,
  revokeToken,
  validateUsername,
} from './token.service.ts';
export { TokenCache } from './token-cache.ts';
export type { Token, User } from './user.entity.ts';
