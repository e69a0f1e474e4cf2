import { BadRequestError, UnsupportedMediaType } from '../errors.ts';
import { packr } from '../history/record-codec.ts';
import { rejectNul } from '../text.ts';

// The record codec sits below both history and the transport; the wire speaks it too.
export { packr, toJsonSafe } from '../history/record-codec.ts';

export const MSGPACK = 'application/x-msgpack';

const mediaType = (contentType: string | undefined) => (contentType ?? '').split(';')[0]!.trim().toLowerCase();

/** A msgpack request body, by its Content-Type (the names msgpack goes by). */
export function isMsgpackType(contentType: string | undefined): boolean {
  const type = mediaType(contentType);
  return type === MSGPACK || type === 'application/msgpack' || type === 'application/vnd.msgpack';
}

/** Request bytes → value: msgpack (the muse client) or JSON (curl, scripts). */
export function decodeRequestBody(contentType: string | undefined, bytes: Uint8Array): unknown {
  const type = mediaType(contentType);
  if (bytes.length === 0) throw new BadRequestError('request body is empty', 'empty_body');
  if (isMsgpackType(type)) {
    let value: unknown;
    try {
      value = packr.unpack(bytes);
    } catch {
      throw new BadRequestError('request body is not valid msgpack', 'malformed_msgpack');
    }
    rejectNul(value);
    return value;
  }
  if (type === 'application/json') {
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      throw new BadRequestError('request body is not valid JSON', 'malformed_json');
    }
    rejectNul(value);
    return value;
  }
  throw new UnsupportedMediaType(type);
}

/** The muse client sends `Accept: application/x-msgpack, application/json` and decodes every 2xx as msgpack. */
export function acceptsMsgpack(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept
    .toLowerCase()
    .split(',')
    .some((part) => {
      const [type, ...params] = part.trim().split(';');
      const q = params.find((p) => p.trim().startsWith('q='));
      return (type === MSGPACK || type === 'application/msgpack') && (!q || Number(q.split('=')[1]) > 0);
    });
}
