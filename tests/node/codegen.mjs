// Runs GraphQL Code Generator (the typescript and typescript-operations
// plugins) over the committed schema and a directory of operations, then
// type-checks what it wrote with the TypeScript compiler in strict mode.
// Exits non-zero on any error of either.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { generate } from '@graphql-codegen/cli';

const { SCHEMA, DOCUMENTS, OUT } = process.env;
// Every custom scalar must be mapped: a new one fails here.
const config = { strictScalars: true, scalars: { DateTime: 'string', JSON: 'unknown' } };
// The schema's types, and the operations' own (the operations plugin
// writes the enums and inputs they use itself since its version 6).
const schemaTypes = join(OUT, 'schema.ts');
const operationTypes = join(OUT, 'operations.ts');
await generate(
  {
    schema: SCHEMA,
    documents: join(DOCUMENTS, '*.graphql'),
    generates: {
      [schemaTypes]: { plugins: ['typescript'], config },
      [operationTypes]: { plugins: ['typescript-operations'], config },
    },
    silent: false,
    errorsOnly: true,
  },
  true,
);
execFileSync(
  join(import.meta.dirname, 'node_modules/.bin/tsc'),
  ['--noEmit', '--strict', '--target', 'es2022', '--skipLibCheck', schemaTypes, operationTypes],
  { stdio: 'inherit' },
);
console.log(`typed ${schemaTypes} and ${operationTypes}`);
