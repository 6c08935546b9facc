/// <reference types="vite/client" />
/// <reference types="vite-plugin-pwa/client" />
import { registerSW } from 'virtual:pwa-register';
import './style.css';
import { adoptTokenFromLocation } from './settings.js';
import { startSync } from './sync.js';
import { mountView } from './view.js';

// The service worker precaches the app, so it opens offline after the first visit.
registerSW({ immediate: true });

adoptTokenFromLocation(location, history);

const fail = (error: unknown): void => {
  const banner = document.querySelector<HTMLElement>('#fatal');
  if (banner) {
    banner.textContent = `The app could not start: ${error instanceof Error ? error.message : String(error)}`;
    banner.hidden = false;
  }
  console.error(error);
};

startSync({ onError: (error) => console.warn('sync:', error) })
  .then((app) => {
    mountView(app);
    document.body.dataset['ready'] = 'true';
    // Leaving for good: give up the sync lead and close the database now rather than at teardown. A page
    // kept in the back/forward cache (`persisted`) stays as it is, to come back working.
    addEventListener('pagehide', (event) => {
      if (!event.persisted) void app.close();
    });
  })
  .catch(fail);
