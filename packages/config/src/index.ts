export const placeholderForSmoke = 1;
