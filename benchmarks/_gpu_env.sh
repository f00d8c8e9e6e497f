# Sourced by the scripts that run on a lent GPU machine (_gpu_emps.sh, _gpu_al.sh); not a benchmark itself.
# Unless PYTHON names an interpreter to use as it is, installs the carried wheels (.whl/) for that machine's own
# python3 into /tmp/site; then exports PYTHON and a PYTHONPATH that finds them and this checkout.
export PYTHONUNBUFFERED=1
if [[ -z ${PYTHON:-} ]]; then
  if compgen -G ".whl/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
      .whl/*.whl || exit 3
    PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  fi
  PYTHON=python3
fi
export PYTHON PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
