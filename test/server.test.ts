import { expect, test } from 'vitest';
import { startTestGateway } from './helpers/gateway.ts';

test('shutdown lets an in-flight request finish, then refuses new connections', async () => {
  const gw = await startTestGateway();
  const alice = await gw.user('alice');
  // A request whose body is still arriving when shutdown starts.
  let sendRest!: () => void;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"name": "Late'));
      sendRest = () => {
        controller.enqueue(new TextEncoder().encode(' Night"}'));
        controller.close();
      };
    },
  });
  const arrived = new Promise((resolve) => gw.server.once('request', resolve));
  const inFlight = fetch(`${gw.url}/api/v1/repos`, {
    method: 'POST',
    headers: { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' },
    body,
    duplex: 'half',
  } as RequestInit);
  await arrived; // the server is now handling the request
  const closing = gw.close();
  sendRest();
  const res = await inFlight;
  expect(res.status).toBe(201);
  expect((await res.json()).slug).toBe('late-night');
  await closing;
  await expect(fetch(`${gw.url}/health`)).rejects.toThrow();
});
