import { describe, expect, it } from 'vitest';
import { contentTypeForName, extensionForContentType, mediaExtension } from '../src/index.js';

describe('media types', () => {
  it('maps names and extensions to content types, aliases included', () => {
    expect(contentTypeForName('shirt.JPEG')).toBe('image/jpeg');
    expect(contentTypeForName('.png')).toBe('image/png');
    expect(contentTypeForName('scan.tif')).toBe('image/tiff');
    expect(contentTypeForName('notes.docx')).toBeUndefined();
    expect(mediaExtension('jpeg')).toBe('jpg');
  });

  it('maps content types back to one canonical extension, ignoring parameters', () => {
    expect(extensionForContentType('image/jpeg')).toBe('jpg');
    expect(extensionForContentType('image/jpg')).toBe('jpg');
    expect(extensionForContentType('image/webp; q=0.8')).toBe('webp');
    expect(extensionForContentType('application/x-unknown')).toBeUndefined();
  });
});
