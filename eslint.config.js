// ESLint for the TypeScript sources, tests and bench, plus the layer check: imports point one way,
// down this table, and a file may import only the layers its own layer lists.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Each layer with the layers below it that it may import (src/<layer>/). */
export const LAYERS = {
  util: [],
  exposition: ['util'],
  domain: ['exposition', 'util'],
  config: ['domain', 'exposition', 'util'],
  store: ['domain', 'exposition', 'util'],
  render: ['domain', 'exposition', 'util'],
  service: ['store', 'render', 'config', 'domain', 'exposition', 'util'],
  security: ['config', 'domain', 'exposition', 'util'],
  ui: ['domain', 'exposition', 'util'],
  http: ['service', 'security', 'ui', 'render', 'config', 'domain', 'exposition', 'util'],
  cli: ['store', 'config', 'domain', 'exposition', 'util'],
};

/** The composition root: src/*.ts, which only the composition root imports. */
const ROOT_MODULES = ['server', 'app', 'main', 'launch', 'heap-growth'];

function layerRules(layer, allowed) {
  const forbidden = Object.keys(LAYERS).filter((l) => l !== layer && !allowed.includes(l));
  return {
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${forbidden.join('|')})/`,
              message: `src/${layer}/ may import only ${allowed.length ? allowed.map((l) => `src/${l}/`).join(', ') : 'nothing else of ours'} (layers: eslint.config.js).`,
            },
            {
              regex: `^(\\.\\./)+(${ROOT_MODULES.join('|')})\\.js$`,
              message: 'The composition root (src/*.ts) imports the layers, never the other way.',
            },
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'data/', 'test-output/', 'examples/**/node_modules/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Request handling and the layers under it take typed input only.
    files: ['src/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'error' },
  },
  {
    // kysely's migrations are written against Kysely<any>: they must not depend on today's schema type.
    files: ['migrations/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.mjs', 'examples/**/*.{js,mjs,ts}'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  ...Object.entries(LAYERS).map(([layer, allowed]) => layerRules(layer, allowed)),
  prettier,
);
