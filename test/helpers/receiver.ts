import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * A real HTTP receiver on loopback whose answers the test scripts: each request takes the next
 * answer (a status, or a status with a Location header), then 200 once the script runs out.
 */
export async function startReceiver(answers: (number | { status: number; location: string })[] = []) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      const answer = answers.shift() ?? 200;
      if (typeof answer === 'number') res.statusCode = answer;
      else {
        res.statusCode = answer.status;
        res.setHeader('location', answer.location);
      }
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}/hook`,
    received,
    /** The X-MuseHub-Event of every request so far, sorted. */
    events: () => received.map((r) => String(r.headers['x-musehub-event'])).sort(),
    close: () => new Promise((r) => server.close(r)),
  };
}
