import {
  IssueCommentSchema,
  IssueLabelSchema,
  IssueSchema,
  ProposalCommentSchema,
  ProposalSchema,
  WebhookSchema,
} from '../hub/hub.entity.ts';
import { CollaboratorSchema, RepoSchema } from '../repos/repo.entity.ts';
import { TokenSchema, UserSchema } from '../users/user.entity.ts';

/** Every entity the ORM knows; the schema itself is owned by src/migrations. */
export const entities = [
  UserSchema,
  TokenSchema,
  RepoSchema,
  CollaboratorSchema,
  IssueSchema,
  IssueCommentSchema,
  IssueLabelSchema,
  ProposalSchema,
  ProposalCommentSchema,
  WebhookSchema,
];
