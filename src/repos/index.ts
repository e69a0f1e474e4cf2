export { isValidBranchName, slugFromName, slugify } from './names.ts';
export type { Collaborator, Permission, Repo, Visibility } from './repo.entity.ts';
export {
  type CreateRepoInput,
  canRead,
  createRepo,
  getReadableRepo,
  getReadableRepoByName,
  isUuid,
  listReposForUser,
  listReposOwnedBy,
  type Page,
  type PageRequest,
  permissionOf,
} from './repo.service.ts';
