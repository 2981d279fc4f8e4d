// Lint: typescript-eslint's recommended rules, type-only imports marked as such, no import cycles,
// and the layers of docs/architecture.md — an arrow points one way: a folder never imports from a
// folder above it (`import type` included).
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'
import { importX } from 'eslint-plugin-import-x'
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript'

/** Each layer may import from the layers listed before it, never from those after it. */
const layers = [
  ['src/errors.ts', 'src/options.ts', 'src/fs'],
  ['src/backends'],
  ['src/store', 'src/changes', 'src/migrations', 'src/registry'],
  ['src/transfer'],
  ['src/backup'],
  ['src/open'],
  ['src/copy'],
  [
    'src/cli',
    'src/server',
    'src/client',
    'src/inspector',
    'src/index.ts',
    'src/postgres.ts',
    'src/backend.ts',
    'src/lifecycle.ts',
    'src/fs.ts',
  ],
]

const zones = layers.flatMap((targets, level) =>
  layers.slice(level + 1).flatMap((above) =>
    targets.map((target) => ({
      target,
      from: above,
      message: `${target} sits below ${above.join(', ')} in docs/architecture.md's layers: move the shared piece down or pass it in.`,
    })),
  ),
)

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '**/*.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    rules: {
      // A variable a cleanup hook closes over is declared before the hook and assigned after it.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // A file nearing this is split by concept (docs/architecture.md, "Files over 300 lines").
    files: ['src/**/*.ts', 'test/**/*.ts'],
    rules: { 'max-lines': ['error', { max: 400 }] },
  },
  {
    // The inspector's page: plain ES modules run by the browser, copied into dist as they are.
    files: ['src/inspector/assets/**/*.js'],
    languageOptions: { globals: globals.browser, sourceType: 'module' },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver-next': [createTypeScriptImportResolver({ project: 'tsconfig.json' })] },
    rules: {
      'import-x/no-cycle': 'error',
      'import-x/no-restricted-paths': ['error', { zones }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
)
