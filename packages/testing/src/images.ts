import sharp from 'sharp';

export interface MakeImageOptions {
  width: number;
  height: number;
  /** Background colour; different colours give different bytes, hence different assets. */
  color?: { r: number; g: number; b: number };
  format?: 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif';
}

/** A small real image, encoded as asked. */
export async function makeImage(options: MakeImageOptions): Promise<Buffer> {
  const { width, height, color = { r: 200, g: 120, b: 80 }, format = 'jpeg' } = options;
  const image = sharp({ create: { width, height, channels: 3, background: color } });
  return image.toFormat(format).toBuffer();
}
