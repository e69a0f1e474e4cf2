import { expect, test } from 'vitest';
import { startTestGateway } from '../helpers/gateway.ts';

test('the configured statement timeout is set on pooled connections', async () => {
  const other = await startTestGateway({ MUSEHUB_DB_STATEMENT_TIMEOUT_MS: '1500' });
  try {
    const rows = await other.orm.em.getConnection().execute<{ statement_timeout: string }[]>('SHOW statement_timeout');
    expect(rows[0]!.statement_timeout).toBe('1500ms');
    // And it bites: a statement longer than that is cancelled.
    await expect(other.orm.em.getConnection().execute('SELECT pg_sleep(3)')).rejects.toThrow(/statement timeout/);
  } finally {
    await other.close();
  }
});
