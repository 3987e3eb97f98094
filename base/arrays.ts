// Length checks the compiler can see (with noUncheckedIndexedAccess an index is only known
// to be there when the type says so).

/** A tuple of `N` elements of `T`. */
export type Tuple<T, N extends number, Acc extends T[] = []> = Acc['length'] extends N ? Acc : Tuple<T, N, [...Acc, T]>;

/** Whether `a` has exactly `n` elements; when it has, `a[0]` to `a[n - 1]` are typed as present. */
export function hasLength<T, N extends number>(a: readonly T[], n: N): a is Tuple<T, N> {
  return a.length === n;
}
