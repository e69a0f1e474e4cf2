export type { Page, PageRequest } from '../db/pagination.ts';
export {
  type AccessFor,
  checkAllowed,
  grantHolderAccess,
  hasPermission,
  isUuid,
  type Need,
  type OwnerAccess,
  permissionIn,
  permissionOf,
  type RefusalWording,
  type RepoAccess,
  type RepoFacts,
  requireNeed,
  requireOwnership,
  requireRepoAccess,
} from './access.ts';
export {
  type CollaboratorView,
  listCollaborators,
  putCollaborator,
  removeCollaborator,
} from './collaborator.service.ts';
export { type DeleteResult, restoreRepo, softDeleteRepo } from './delete.service.ts';
export { forkRepo, listForks } from './fork.service.ts';
export { type LivenessCacheOptions, type LiveRepo, RepoLivenessCache, type RepoRefs } from './liveness-cache.ts';
export {
  BranchNameSchema,
  branchNameIssue,
  branchNameProblem,
  checkBranchName,
  repoNameSchema,
  slugFromName,
  slugify,
} from './names.ts';
export type { Collaborator, Permission, Repo, Visibility } from './repo.entity.ts';
export {
  type CreateRepoInput,
  createRepo,
  getReadableRepo,
  getReadableRepoByName,
  listReposForUser,
  listReposOwnedBy,
} from './repo.service.ts';
