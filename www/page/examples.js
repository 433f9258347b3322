// The example strip: CIFAR-10 test images to try without a photo at hand. They come as one
// sprite (www/examples/cifar10-examples.jpg, made by tools/examples.py): tile i shows class
// EXAMPLE_CLASSES[i]. A click cuts the tile out and hands it on as a PNG file, so it goes
// through the same path as a dropped photo.
const SPRITE = new URL('./examples/cifar10-examples.jpg', import.meta.url).href;
const TILE = 32;
/** The true class of each tile, in order: the first two test images of each class. */
const EXAMPLE_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'].flatMap((name) => [name, name]);

async function tileFile(sprite, index) {
  const canvas = new OffscreenCanvas(TILE, TILE);
  canvas.getContext('2d').drawImage(sprite, index * TILE, 0, TILE, TILE, 0, 0, TILE, TILE);
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  return new File([blob], `example ${index + 1} (${EXAMPLE_CLASSES[index]}).png`, { type: 'image/png' });
}

/**
 * Fills `container` with one button per example and wires `randomButton`; `onPick(file)` gets the
 * chosen example. The buttons show the sprite as a background, so the strip is one download.
 */
export function setupExamples(container, randomButton, onPick) {
  const sprite = new Image();
  sprite.src = SPRITE;
  const ready = sprite.decode();
  const pick = async (index) => onPick(await ready.then(() => tileFile(sprite, index)));
  container.replaceChildren(...EXAMPLE_CLASSES.map((name, index) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'example';
    button.style.backgroundImage = `url("${SPRITE}")`;
    button.style.backgroundPosition = `${(100 * index) / (EXAMPLE_CLASSES.length - 1)}% 0`; // CSS: background-size 2000 %
    button.setAttribute('aria-label', `Example ${index + 1}: a ${name}`);
    button.title = `A ${name} from the CIFAR-10 test set`;
    button.addEventListener('click', () => pick(index));
    return button;
  }));
  randomButton.addEventListener('click', () => pick(Math.floor(Math.random() * EXAMPLE_CLASSES.length)));
}
