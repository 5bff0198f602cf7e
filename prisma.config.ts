// Prisma CLI configuration. The WASM schema engine ("engine: js" with a driver adapter) is what
// lets `prisma generate` and `prisma migrate deploy` run with no download (docs/decisions/002).
import { PrismaPg } from '@prisma/adapter-pg';
import { defineConfig } from 'prisma/config';

function adapterOptions(url: string) {
  // Discrete fields, not connectionString: with a connection string Prisma's shadow database
  // would point at the main database (../shared/ENVIRONMENT.md).
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
    database: parsed.pathname.slice(1),
  };
}

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  adapter() {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('DATABASE_URL must be set for Prisma CLI commands (npm start and npm test set it).');
    return Promise.resolve(new PrismaPg(adapterOptions(url)));
  },
});
