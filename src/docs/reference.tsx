import { METHODS, type OpenApiDocument, type Operation, type Parameter, type Schema } from './openapi-types.ts';

/**
 * The API reference as one server-rendered page: no script, no font, nothing fetched but its
 * stylesheet, so it is readable at once, offline, and in any browser or text browser. Built from
 * the OpenAPI document /openapi.json serves, so it cannot drift from the routes.
 */

const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);
const anchorOf = (method: string, path: string) =>
  `op-${method}-${path.replace(/[^a-zA-Z0-9]+/g, '-').replace(/-+$/, '')}`;

function resolve(doc: OpenApiDocument, schema: Schema | undefined): Schema | undefined {
  if (!schema?.$ref) return schema;
  return doc.components?.schemas?.[refName(schema.$ref)];
}

/** A schema's type in a few words: `string`, `array of Repo`, `"public" or "private"`. */
function typeText(schema: Schema | undefined): string {
  if (!schema) return 'any';
  if (schema.$ref) return refName(schema.$ref);
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' or ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) return alternatives.map(typeText).join(' or ');
  if (schema.allOf?.length === 1) return typeText(schema.allOf[0]);
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  const words = types.map((t) => (t === 'array' ? `array of ${typeText(schema.items)}` : t));
  const base = words.join(' or ') || 'any';
  return `${base}${schema.nullable ? ' or null' : ''}${schema.format ? ` (${schema.format})` : ''}`;
}

/** Limits worth knowing before sending: lengths, ranges, defaults. */
function limits(schema: Schema | undefined): string {
  if (!schema) return '';
  const parts: string[] = [];
  if (schema.minLength !== undefined && schema.minLength > 0) parts.push(`at least ${schema.minLength} characters`);
  if (schema.maxLength !== undefined) parts.push(`at most ${schema.maxLength} characters`);
  if (schema.minimum !== undefined) parts.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) parts.push(`≤ ${schema.maximum}`);
  if (schema.maxItems !== undefined) parts.push(`at most ${schema.maxItems} items`);
  if (schema.default !== undefined) parts.push(`default ${JSON.stringify(schema.default)}`);
  return parts.join(', ');
}

function TypeCell({ schema }: { schema: Schema | undefined }) {
  const name = schema?.$ref ? refName(schema.$ref) : schema?.items?.$ref ? refName(schema.items.$ref) : null;
  return <code>{name ? <a href={`#schema-${name}`}>{typeText(schema)}</a> : typeText(schema)}</code>;
}

/** An object schema's fields, one row each. */
function Fields({ doc, schema }: { doc: OpenApiDocument; schema: Schema | undefined }) {
  const object = resolve(doc, schema);
  const properties = Object.entries(object?.properties ?? {});
  if (!properties.length) return <p class="type">{typeText(schema)}</p>;
  const required = new Set(object?.required ?? []);
  return (
    <table>
      <thead>
        <tr>
          <th>field</th>
          <th>type</th>
          <th>notes</th>
        </tr>
      </thead>
      <tbody>
        {properties.map(([name, prop]) => (
          <tr>
            <td>
              <code>{name}</code>
              {required.has(name) ? <span class="required"> required</span> : null}
            </td>
            <td>
              <TypeCell schema={prop} />
            </td>
            <td>{[prop.description, limits(prop)].filter(Boolean).join('. ')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function ParameterRows({ params }: { params: Parameter[] }) {
  return (
    <table>
      <thead>
        <tr>
          <th>parameter</th>
          <th>in</th>
          <th>type</th>
          <th>notes</th>
        </tr>
      </thead>
      <tbody>
        {params.map((p) => (
          <tr>
            <td>
              <code>{p.name}</code>
              {p.required ? <span class="required"> required</span> : null}
            </td>
            <td>{p.in}</td>
            <td>
              <TypeCell schema={p.schema} />
            </td>
            <td>{[p.description ?? p.schema?.description, limits(p.schema)].filter(Boolean).join('. ')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A value of the schema's shape for the curl example: its example, else a placeholder by type. */
function sample(doc: OpenApiDocument, schema: Schema | undefined, depth = 0): unknown {
  const s = resolve(doc, schema);
  if (!s || depth > 3) return null;
  if (s.example !== undefined) return s.example;
  if (s.enum?.length) return s.enum[0];
  if (s.default !== undefined) return s.default;
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  if (type === 'object' || s.properties) {
    const required = new Set(s.required ?? []);
    const entries = Object.entries(s.properties ?? {}).filter(([k, v]) => required.has(k) || v.example !== undefined);
    return Object.fromEntries(entries.map(([k, v]) => [k, sample(doc, v, depth + 1)]));
  }
  if (type === 'array') return [sample(doc, s.items, depth + 1)];
  if (type === 'integer' || type === 'number') return s.minimum ?? 1;
  if (type === 'boolean') return true;
  return s.format === 'uuid' ? '00000000-0000-4000-8000-000000000000' : 'text';
}

function curlFor(doc: OpenApiDocument, method: string, path: string, op: Operation): string {
  const server = doc.servers?.[0]?.url ?? '/api/v1';
  const url = `${server}${path.replace(/\{([^}]+)\}/g, (_, name: string) => `$${name.toUpperCase()}`)}`;
  const lines = [
    `curl${method === 'get' ? '' : ` -X ${method.toUpperCase()}`} "${url}"`,
    '  -H "Authorization: Bearer $MUSEHUB_TOKEN"',
  ];
  const body = op.requestBody?.content?.['application/json']?.schema;
  if (body) {
    lines.push("  -H 'content-type: application/json'");
    lines.push(`  -d '${JSON.stringify(sample(doc, body)).replaceAll("'", "'\\''")}'`);
  }
  return lines.join(' \\\n');
}

function OperationSection({
  doc,
  method,
  path,
  op,
}: {
  doc: OpenApiDocument;
  method: string;
  path: string;
  op: Operation;
}) {
  const body = op.requestBody?.content?.['application/json']?.schema;
  const params = op.parameters ?? [];
  return (
    <section class="operation" id={anchorOf(method, path)}>
      <h3>
        <span class={`method ${method}`}>{method.toUpperCase()}</span> <code>{path}</code>
      </h3>
      {op.summary ? <p class="summary">{op.summary}</p> : null}
      {op.description ? <p>{op.description}</p> : null}
      {params.length ? <ParameterRows params={params} /> : null}
      {body ? (
        <>
          <h4>
            Request body{op.requestBody?.required ? '' : ' (optional)'}: <TypeCell schema={body} />
          </h4>
          <Fields doc={doc} schema={body} />
        </>
      ) : null}
      <h4>Responses</h4>
      <ul class="responses">
        {Object.entries(op.responses ?? {}).map(([status, r]) => {
          const schema = r.content?.['application/json']?.schema;
          return (
            <li>
              <code class={`status s${status[0]}`}>{status}</code> {r.description ?? ''}
              {schema ? (
                <>
                  {' '}
                  <TypeCell schema={schema} />
                </>
              ) : null}
            </li>
          );
        })}
      </ul>
      <pre>
        <code>{curlFor(doc, method, path, op)}</code>
      </pre>
    </section>
  );
}

/** Operations by their first tag, in the document's order. */
function byTag(doc: OpenApiDocument) {
  const groups = new Map<string, { method: string; path: string; op: Operation }[]>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] ?? 'Other';
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag)!.push({ method, path, op });
    }
  }
  return groups;
}

export function ReferencePage({ doc }: { doc: OpenApiDocument }) {
  const groups = byTag(doc);
  const schemas = Object.entries(doc.components?.schemas ?? {});
  const title = `${doc.info?.title ?? 'API'} API reference`;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
        <link rel="stylesheet" href="/docs/reference.css" />
      </head>
      <body>
        <nav class="toc" aria-label="operations">
          <p>
            <strong>{doc.info?.title ?? 'API'}</strong> {doc.info?.version ?? ''}
          </p>
          {[...groups].map(([tag, ops]) => (
            <>
              <h2>
                <a href={`#tag-${tag}`}>{tag}</a>
              </h2>
              <ul>
                {ops.map(({ method, path, op }) => (
                  <li>
                    <a href={`#${anchorOf(method, path)}`}>
                      <span class={`method ${method}`}>{method.toUpperCase()}</span> {op.summary ?? path}
                    </a>
                  </li>
                ))}
              </ul>
            </>
          ))}
          <h2>
            <a href="#schemas">Schemas</a>
          </h2>
        </nav>
        <main>
          <h1>{title}</h1>
          {doc.info?.description ? <p>{doc.info.description}</p> : null}
          <p>
            Base URL <code>{doc.servers?.[0]?.url ?? '/api/v1'}</code>. Authenticate with{' '}
            <code>Authorization: Bearer &lt;token&gt;</code> (<code>musehub token create &lt;username&gt;</code>);
            without it you are anonymous. Errors are <code>{'{"detail": "…", "code": "…"}'}</code>; a private or deleted
            repo is the same 404 as one that never existed. The machine-readable document is{' '}
            <a href="/openapi.json">/openapi.json</a>.
          </p>
          {[...groups].map(([tag, ops]) => (
            <section id={`tag-${tag}`}>
              <h2>{tag}</h2>
              {ops.map((o) => (
                <OperationSection doc={doc} {...o} />
              ))}
            </section>
          ))}
          <section id="schemas">
            <h2>Schemas</h2>
            {schemas.map(([name, schema]) => (
              <section class="schema" id={`schema-${name}`}>
                <h3>
                  <code>{name}</code>
                </h3>
                {schema.description ? <p>{schema.description}</p> : null}
                <Fields doc={doc} schema={schema} />
              </section>
            ))}
          </section>
        </main>
      </body>
    </html>
  );
}
