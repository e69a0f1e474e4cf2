import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { createdAt } from '../db/columns.ts';

export const UserSchema = defineEntity({
  name: 'User',
  tableName: 'musehub_users',
  properties: {
    userId: p.uuid().primary().fieldName('user_id'),
    username: p.text().unique('musehub_users_username_key'),
    createdAt: createdAt(),
  },
});
export type User = InferEntity<typeof UserSchema>;

export const TokenSchema = defineEntity({
  name: 'Token',
  tableName: 'musehub_tokens',
  properties: {
    tokenId: p.uuid().primary().fieldName('token_id'),
    userId: p.uuid().fieldName('user_id'),
    // SHA-256 of the secret: a leaked table reveals no usable token.
    tokenHash: p.text().fieldName('token_hash').unique('musehub_tokens_token_hash_key'),
    name: p.text().nullable(),
    createdAt: createdAt(),
    lastUsedAt: p.datetime().fieldName('last_used_at').nullable(),
    revokedAt: p.datetime().fieldName('revoked_at').nullable(),
  },
});
export type Token = InferEntity<typeof TokenSchema>;
