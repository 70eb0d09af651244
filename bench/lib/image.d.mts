/** Types for image.mjs (scripts/load.ts imports it). */
export declare function imageNodeArgs(): string[]
