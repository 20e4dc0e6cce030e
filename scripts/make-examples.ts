/** Draws the sample images the README's quick start uploads (examples/*.jpg). Run once; committed. */
import sharp from 'sharp';

const model = `<svg xmlns="http://www.w3.org/2000/svg" width="600" height="900">
  <rect width="600" height="900" fill="#eae4da"/>
  <circle cx="300" cy="150" r="70" fill="#c99a78"/>
  <rect x="215" y="230" width="170" height="300" rx="40" fill="#c99a78"/>
  <rect x="150" y="240" width="55" height="260" rx="25" fill="#c99a78"/>
  <rect x="395" y="240" width="55" height="260" rx="25" fill="#c99a78"/>
  <rect x="225" y="520" width="65" height="340" rx="25" fill="#c99a78"/>
  <rect x="310" y="520" width="65" height="340" rx="25" fill="#c99a78"/>
</svg>`;
const shirt = `<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512">
  <rect width="512" height="512" fill="#ffffff"/>
  <path d="M176 60 L336 60 L450 150 L400 220 L360 190 L360 460 L152 460 L152 190 L112 220 L62 150 Z" fill="#2f6fb2"/>
</svg>`;
const trousers = `<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512">
  <rect width="512" height="512" fill="#ffffff"/>
  <path d="M160 40 L352 40 L380 480 L280 480 L256 200 L232 480 L132 480 Z" fill="#3b3b3b"/>
</svg>`;

for (const [name, svg] of Object.entries({ model, shirt, trousers })) {
  await sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toFile(`examples/${name}.jpg`);
}
