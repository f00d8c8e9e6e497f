# Sourced by the shell benchmarks for --smoke; not a benchmark itself.
# smoke_subset SRC N DEST: links the first N images of SRC/images (sorted by name) and their SRC/segmaps masks
# (same stem, any suffix) into DEST/images and DEST/segmaps.
smoke_subset() {
  local src=$1 n=$2 dest=$3 image stem mask
  mkdir -p "$dest/images" "$dest/segmaps"
  while IFS= read -r image; do
    stem=${image%.*}
    for mask in "$src/segmaps/$stem".*; do
      [ -e "$mask" ] || { echo "no mask for $image in $src/segmaps" >&2; return 1; }
      ln -s "$(cd "$(dirname "$mask")" && pwd)/$(basename "$mask")" "$dest/segmaps/"
    done
    ln -s "$(cd "$src/images" && pwd)/$image" "$dest/images/"
  done < <(ls "$src/images" | LC_ALL=C sort | head -n "$n")
}

# smoke_workdir NAME N: a temporary folder (removed on exit) holding the first N images of $emps; points emps at
# it and out (unless set) inside it.
smoke_workdir() {
  tiny=$(mktemp -d "${TMPDIR:-/tmp}/$1_smoke.XXXXXX")
  trap 'rm -rf "$tiny"' EXIT
  smoke_subset "$emps" "$2" "$tiny/data"
  emps=$tiny/data
  out=${out:-$tiny/run}
}
