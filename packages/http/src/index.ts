export { bearerToken } from "./bearer.ts";
export {
  type ErrorEntry,
  errorResponder,
  HttpError,
  type HttpErrorOptions,
  methodNotAllowed,
} from "./http-error.ts";
export { hasMediaType } from "./media-type.ts";
export { readBodyUpTo } from "./read-body.ts";
