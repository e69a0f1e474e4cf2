import { CollaboratorSchema, RepoSchema } from '../repos/repo.entity.ts';
import { TokenSchema, UserSchema } from '../users/user.entity.ts';

/** Every entity the ORM knows; the schema itself is owned by src/migrations. */
export const entities = [UserSchema, TokenSchema, RepoSchema, CollaboratorSchema];
