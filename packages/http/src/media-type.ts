/**
 * Whether a `content-type` header names `mediaType` (lowercase), whatever its parameters
 * (`; charset=utf-8`) and the case it is spelled in (RFC 9110 §8.3.1). No header is no match.
 *
 * @example
 * hasMediaType("Application/JSON; charset=utf-8", "application/json"); // true
 */
export function hasMediaType(contentType: string | null | undefined, mediaType: string): boolean {
  if (contentType === null || contentType === undefined) return false;
  const semicolon = contentType.indexOf(";");
  const type = semicolon === -1 ? contentType : contentType.slice(0, semicolon);
  return type.trim().toLowerCase() === mediaType;
}
