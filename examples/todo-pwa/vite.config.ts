import { VitePWA } from 'vite-plugin-pwa';
import { defineConfig } from 'vite';

// The sync endpoint `vite` (dev) forwards to: `pnpm start` serves it at 127.0.0.1:8787.
const endpoint = process.env['EVENTSYNC_URL'] ?? 'http://127.0.0.1:8787';

export default defineConfig({
  build: { target: 'es2022', sourcemap: true },
  // `vite` during development: the app on Vite's server, /v1 forwarded to the sync endpoint (same origin
  // for the browser, so no CORS is needed).
  server: { proxy: { '/v1': { target: endpoint, changeOrigin: true } } },
  plugins: [
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: false,
      includeAssets: ['icon.svg', 'icon-192.png', 'icon-512.png'],
      manifest: {
        name: 'Todos · eventsync',
        short_name: 'Todos',
        description: 'An offline-first todo list that syncs between devices.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        background_color: '#f5f5f7',
        theme_color: '#4f46e5',
        icons: [
          { src: 'icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
          { src: 'icon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
      workbox: {
        // The app shell and its assets are precached; the sync endpoint is never cached.
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        navigateFallback: '/index.html',
        navigateFallbackDenylist: [/^\/v1\//, /^\/metrics/],
        clientsClaim: true,
        skipWaiting: true,
        cleanupOutdatedCaches: true,
      },
    }),
  ],
});
