// The routes an express router serves, as "METHOD /pattern" strings, nested routers included: a
// test that must walk every route compares its table with this list, so a route added later
// without an entry in the table fails that test instead of going unchecked.
import type { Router } from 'express';

interface LayerLike {
  rawPath?: string | string[];
  slash?: boolean;
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle: { stack?: LayerLike[] };
}

export function routesOf(router: Router, prefix = ''): string[] {
  const found: string[] = [];
  for (const layer of (router as unknown as { stack: LayerLike[] }).stack) {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      for (const method of Object.keys(layer.route.methods).filter((name) => layer.route!.methods[name] && name !== '_all')) {
        for (const path of paths) found.push(`${method.toUpperCase()} ${prefix}${path}`);
      }
    } else if (layer.handle.stack) {
      const mounts = layer.slash || layer.rawPath === undefined ? [''] : Array.isArray(layer.rawPath) ? layer.rawPath : [layer.rawPath];
      for (const mount of mounts) found.push(...routesOf(layer.handle as unknown as Router, `${prefix}${mount === '/' ? '' : mount}`));
    }
  }
  return found;
}
