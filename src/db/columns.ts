import { p } from '@mikro-orm/core';

/** created_at, set once when the row is created. */
export const createdAt = () =>
  p
    .datetime()
    .fieldName('created_at')
    .onCreate(() => new Date());

/** updated_at, set on create and on every ORM update. */
export const updatedAt = () =>
  p
    .datetime()
    .fieldName('updated_at')
    .onCreate(() => new Date())
    .onUpdate(() => new Date());
