import type { EntityManager } from '@mikro-orm/postgresql';

/** A push that landed, as the rest of the hub hears of it (webhooks' `push` event). */
export interface PushEvent {
  repo: { repoId: string; owner: string; slug: string };
  branch: string;
  /** The branch's head before the push; null when the push created the branch. */
  before: string | null;
  after: string;
  forced: boolean;
  commits: number;
  pusher: string;
}

/**
 * The port through which the protocol core reports a push: called inside the push's
 * transaction, so whatever it records commits or rolls back with the push. The app wires it to
 * the webhook outbox; the transport itself knows nothing of webhooks.
 */
export type OnPushed = (tx: EntityManager, event: PushEvent) => Promise<void>;
