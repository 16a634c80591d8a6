#!/usr/bin/env bash
# Build TensorRT engines (fp16 and int8) from the ONNX graphs of an `embodied-stack export`
# directory, one engine per graph listed in its manifest.json, each with an optimisation
# profile over the dynamic axes (batch, sequence). Runs on the Jetson (TensorRT 8.6 or 10.x).
#
# usage: deploy/build_trt_engines.sh EXPORT_DIR [OUT_DIR]
#   EXPORT_DIR  a policy or embedder export (holds manifest.json); OUT_DIR defaults to EXPORT_DIR/trt
# environment:
#   PRECISIONS   engines to build, default "fp16 int8"
#   MAX_BATCH    largest batch of the profile (default 4); OPT_BATCH the tuned one (default 1)
#   MAX_SEQ      longest token sequence for the embedder (default 256, its max_seq_length); OPT_SEQ (default 32)
#   TRTEXEC      the trtexec binary (default: trtexec on PATH, else /usr/src/tensorrt/bin/trtexec)
#   PYTHON       a python3 to read the manifest (default python3)
#
# int8 uses implicit quantisation with the calibration cache the exporter wrote from simulator
# frames (`export onnx --int8 static`; manifest field `trt_calibration_cache`). TensorRT only
# accepts a cache whose header names its own version, so the header is rewritten for the
# local TensorRT first. A graph without a cache gets no int8 engine (uncalibrated int8 would
# be meaningless); the script says so and goes on.
# Each engine's build log, with trtexec's latency summary on random inputs, is OUT_DIR/NAME.PREC.log.
set -euo pipefail

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p;}' "$0"
}

case "${1:-}" in
    -h | --help) usage; exit 0 ;;
esac
if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
    usage >&2
    exit 2
fi

export_dir="$1"
out_dir="${2:-${export_dir}/trt}"
manifest="${export_dir}/manifest.json"
precisions="${PRECISIONS:-fp16 int8}"
python="${PYTHON:-python3}"
export MAX_BATCH="${MAX_BATCH:-4}" OPT_BATCH="${OPT_BATCH:-1}" MAX_SEQ="${MAX_SEQ:-256}" OPT_SEQ="${OPT_SEQ:-32}"

if [ ! -f "${manifest}" ]; then
    echo "error: ${manifest} not found; EXPORT_DIR must be an 'embodied-stack export' output" >&2
    exit 1
fi
for precision in ${precisions}; do
    case "${precision}" in
        fp16 | int8 | fp32) ;;
        *) echo "error: PRECISIONS has '${precision}'; expected fp32, fp16 or int8" >&2; exit 2 ;;
    esac
done

trtexec="${TRTEXEC:-}"
if [ -z "${trtexec}" ]; then
    trtexec="$(command -v trtexec || true)"
    [ -z "${trtexec}" ] && [ -x /usr/src/tensorrt/bin/trtexec ] && trtexec=/usr/src/tensorrt/bin/trtexec
fi
if [ -z "${trtexec}" ] || [ ! -x "${trtexec}" ]; then
    echo "error: trtexec not found; install TensorRT (JetPack) or set TRTEXEC" >&2
    exit 1
fi

# TensorRT's version as the integer its calibration cache header carries (e.g. 100300 for 10.3.0).
trt_version="$("${trtexec}" --help 2>&1 | grep -o 'TensorRT v[0-9]*' | head -n 1 | tr -dc '0-9' || true)"
if [ -z "${trt_version}" ]; then
    echo "error: cannot read the TensorRT version from '${trtexec} --help'" >&2
    exit 1
fi

# One tab-separated line per graph: name, onnx file, min/opt/max shapes (empty when static), cache.
graphs="$("${python}" - "${manifest}" <<'PYEOF'
import json
import os
import sys

path = sys.argv[1]
with open(path) as f:
    manifest = json.load(f)
symbols = {
    "batch": (1, int(os.environ["OPT_BATCH"]), int(os.environ["MAX_BATCH"])),
    "sequence": (1, int(os.environ["OPT_SEQ"]), int(os.environ["MAX_SEQ"])),
}
graphs = manifest.get("graphs")
if not isinstance(graphs, list) or not graphs:
    sys.exit(f"{path}: field 'graphs' must be a non-empty list")
for graph in graphs:
    profiles = ([], [], [])
    for spec in graph["inputs"]:
        shape = spec["shape"]
        if all(isinstance(d, int) for d in shape):
            continue
        for k, profile in enumerate(profiles):
            dims = []
            for d in shape:
                if isinstance(d, int):
                    dims.append(str(d))
                elif d in symbols:
                    dims.append(str(symbols[d][k]))
                else:
                    sys.exit(f"{path}: graph {graph['name']!r} input {spec['name']!r} has axis {d!r}; "
                             f"expected an integer or one of {sorted(symbols)}")
            profile.append(f"{spec['name']}:{'x'.join(dims)}")
    print("\t".join([graph["name"], graph["file"], *(",".join(p) for p in profiles),
                     graph.get("trt_calibration_cache") or ""]))
PYEOF
)"

mkdir -p "${out_dir}"
built=0
skipped=0
while IFS=$'\t' read -r name file min_shapes opt_shapes max_shapes calib; do
    onnx="${export_dir}/${file}"
    if [ ! -f "${onnx}" ]; then
        echo "error: ${onnx} (graph '${name}' in ${manifest}) not found" >&2
        exit 1
    fi
    shape_args=()
    if [ -n "${min_shapes}" ]; then
        shape_args=("--minShapes=${min_shapes}" "--optShapes=${opt_shapes}" "--maxShapes=${max_shapes}")
    fi
    for precision in ${precisions}; do
        precision_args=()
        case "${precision}" in
            fp16) precision_args=(--fp16) ;;
            int8)
                if [ -z "${calib}" ] || [ ! -f "${export_dir}/${calib}" ]; then
                    echo "skip: ${name} int8: no calibration cache (policy exports made with --int8 static have one)" >&2
                    skipped=$((skipped + 1))
                    continue
                fi
                mkdir -p "${out_dir}/calib"
                local_cache="${out_dir}/calib/${name}.cache"
                sed "1s/^TRT-[0-9A-Za-z]*-/TRT-${trt_version}-/" "${export_dir}/${calib}" > "${local_cache}"
                precision_args=(--int8 --fp16 "--calib=${local_cache}")
                ;;
        esac
        engine="${out_dir}/${name}.${precision}.engine"
        log="${out_dir}/${name}.${precision}.log"
        echo "build: ${engine}" >&2
        if ! "${trtexec}" "--onnx=${onnx}" "--saveEngine=${engine}" "${shape_args[@]}" \
            "${precision_args[@]}" > "${log}" 2>&1; then
            echo "error: trtexec failed for ${name} (${precision}); see ${log}" >&2
            exit 1
        fi
        built=$((built + 1))
    done
done <<< "${graphs}"

echo "built ${built} engine(s) in ${out_dir} (TensorRT ${trt_version}); skipped ${skipped}" >&2
