// Tests read many JSON bodies of known shape and assert on them; `any` keeps those reads short.
declare global {
  interface Response {
    // biome-ignore lint/suspicious/noExplicitAny: test-only convenience, see above
    json(): Promise<any>;
  }
}

export {};
