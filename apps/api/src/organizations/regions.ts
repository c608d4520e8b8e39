/**
 * The 17 first-level administrative divisions (시·도), as lowercase slugs. The capital area
 * (수도권) is Seoul, Incheon and Gyeonggi: programs favour applicants outside it, so it is derived
 * here once rather than entered by hand.
 */
export const KOREAN_REGIONS = [
  'seoul',
  'busan',
  'daegu',
  'incheon',
  'gwangju',
  'daejeon',
  'ulsan',
  'sejong',
  'gyeonggi',
  'gangwon',
  'chungbuk',
  'chungnam',
  'jeonbuk',
  'jeonnam',
  'gyeongbuk',
  'gyeongnam',
  'jeju',
] as const;
export type KoreanRegion = (typeof KOREAN_REGIONS)[number];

const CAPITAL_AREA: ReadonlySet<KoreanRegion> = new Set<KoreanRegion>(['seoul', 'incheon', 'gyeonggi']);

export function isCapitalArea(region: KoreanRegion): boolean {
  return CAPITAL_AREA.has(region);
}
