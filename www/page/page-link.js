// A link opens a model: `?model=<URL>` (weights in any format the page reads) with an optional
// `#sha256=<hex>`, fetched by the module's rules (secnn-fetch.js: no credentials, https or this
// page's own origin, a size limit, the hash checked before the weights are used). The page shows
// the download's progress and where the model came from, with a way back to the shipped model;
// each failure is named, and the shipped model stays. *Share* builds such a link from the URL
// where the visitor put their file.
import { $ } from './page-dom.js';
import { page } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { updateStatus } from './page-status.js';

/** `{ url, sha256 }` the page's address asks for, or null. */
export function linkedModel() {
  const url = new URLSearchParams(location.search).get('model');
  if (!url) return null;
  const sha256 = new URLSearchParams(location.hash.slice(1)).get('sha256');
  return { url, sha256 };
}

/** The host and path of `url`, for people ("huggingface.co/user/repo/…/model.safetensors"). */
function shortName(url) {
  try {
    const { host, pathname } = new URL(url, location.href);
    const path = pathname.length > 60 ? `${pathname.slice(0, 25)}…${pathname.slice(-30)}` : pathname;
    return `${host}${path}`;
  } catch {
    return url;
  }
}

/** What a failure means for the visitor, by the module's code and reason. */
function failureText(error, url) {
  const where = shortName(url);
  if (error.code === 'fetch-failed' && error.details?.reason === 'cors-or-network') {
    return `${where} does not let other sites read the file (its host sends no CORS headers), or it cannot be reached. ` +
      'Download the file and open it with "Load weights…" in the Fine-tune tab instead.';
  }
  if (error.code === 'hash-mismatch') return `${where} is not the file the link names: its SHA-256 does not match the link's (${error.details.expected.slice(0, 12)}…).`;
  if (error.code === 'invalid-weights' || error.code === 'corrupted') return `${where} is not a model this page can run: ${error.message}`;
  return error.message;
}

function showSource(url) {
  $('model-source-text').textContent = `Model from ${shortName(url)}, not the shipped model.`;
  $('model-source').hidden = false;
}

/** Back to the shipped model, and the address without the link. */
async function backToShipped() {
  await page.model.loadWeights(page.shippedBytes.slice());
  page.modelFromLink = null;
  $('model-source').hidden = true;
  history.replaceState(null, '', location.pathname);
  $('link-line').hidden = true;
  updateStatus();
  showAlert('The shipped CIFAR-10 model is back.', { kind: 'info' });
}

/** The kept work's model, where the restore left it out for the link's (which failed). */
async function reloadKeptModel() {
  const kept = (await import('./project-keeper.js')).keptWeights();
  if (!kept) return;
  await page.model.loadWeights(kept.slice());
  updateStatus();
}

/** Opens the model the link names; on failure says why and keeps the model from before. */
export async function openLinkedModel({ url, sha256 }) {
  setupLinks();
  $('link-line').hidden = false;
  const bar = $('link-progress');
  bar.hidden = false;
  $('link-status').textContent = `Downloading the model from ${shortName(url)}…`;
  try {
    await page.model.loadWeights(url, {
      sha256: sha256 ?? undefined,
      onProgress: ({ loaded, total }) => {
        bar.max = total ?? Math.max(loaded * 2, 1);
        bar.value = loaded;
        $('link-status').textContent = `Downloading the model from ${shortName(url)}: ${(loaded / 1e6).toFixed(1)} MB${total ? ` of ${(total / 1e6).toFixed(1)}` : ''}…`;
      },
    });
    showSource(url);
    updateStatus();
    $('link-status').textContent = sha256 ? 'Its SHA-256 matches the link.' : '';
  } catch (error) {
    page.modelFromLink = null;
    $('link-line').hidden = true;
    showAlert(`The model at ${shortName(url)} was not opened: ${failureText(error, url)} The model from before is still in use.`);
    await reloadKeptModel();
  } finally {
    bar.hidden = true;
  }
}

/** Share: from the URL where the visitor put their file, a link to this page that opens it, hash included. */
async function buildShareLink() {
  const url = $('share-url').value.trim();
  $('share-link').value = '';
  $('share-status').textContent = 'Checking the file…';
  try {
    const { fetchWeights, sha256Hex, weightsUrl } = await import('../secnn/secnn-fetch.js');
    const bytes = await fetchWeights(weightsUrl(url, 'share'));
    const link = new URL(location.pathname, location.href);
    link.searchParams.set('model', url);
    link.hash = `sha256=${await sha256Hex(bytes)}`;
    $('share-link').value = link.href;
    $('share-copy').disabled = false;
    $('share-status').textContent = `${(bytes.length / 1e6).toFixed(1)} MB, readable from here; the link checks that file's SHA-256.`;
  } catch (error) {
    $('share-copy').disabled = true;
    $('share-status').textContent = `No link: ${failureText(error, url)}`;
  }
}

async function copyShareLink() {
  await navigator.clipboard.writeText($('share-link').value).then(
    () => { $('share-status').textContent = 'Link copied.'; },
    () => { $('share-link').select(); $('share-status').textContent = 'Select the link and copy it (the browser did not allow copying).'; },
  );
}

let wired = false;

/** Wires the way back and the Share card (once: start-up and the fine-tune panel both ask). */
export function setupLinks() {
  if (wired) return;
  wired = true;
  $('model-source-back').addEventListener('click', () => backToShipped().catch((error) => showAlert(`Could not go back: ${error.message}`)));
  $('share-build').addEventListener('click', buildShareLink);
  $('share-copy').addEventListener('click', copyShareLink);
}
