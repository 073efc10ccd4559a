// The TypeScript and JavaScript of the package, its scripts and its tests (npm run lint).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'build/',
      'build-gyp/',
      'build-libtorch2/',
      'node_modules/',
      'test/fixtures/',
      '.device/',
      'demo-output/',
    ],
  },
  ...tseslint.configs.recommended,
  {
    rules: {
      // A leading underscore marks what is left out on purpose (a destructured field, a callback's argument).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // The scripts are CommonJS, and the package reads its own package.json.
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
);
