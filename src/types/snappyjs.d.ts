/** The part of snappyjs (raw snappy blocks, no framing) that Pushkeep uses; the package ships no types. */
declare module 'snappyjs' {
  /**
   * Decompresses one raw snappy block. Throws when the block is corrupt or when its declared uncompressed
   * length exceeds maxLength (checked before allocating).
   */
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T;
  /** Compresses into one raw snappy block. */
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T;
  const SnappyJS: { uncompress: typeof uncompress; compress: typeof compress };
  export default SnappyJS;
}
