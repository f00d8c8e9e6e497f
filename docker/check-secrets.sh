#!/bin/sh
# The stack's first one-shot service: refuse to start while a secret is still a placeholder of .env.example
# (change-me...), empty, or shorter than 12 characters. Compose's `${VAR:?}` only checks that a variable is set.
# Arguments: the names of the secret variables to check (compose.yaml passes every one it uses).
bad=""
for name in "$@"; do
    eval "value=\${$name-}"
    case "$value" in
        *[Cc][Hh][Aa][Nn][Gg][Ee][-_][Mm][Ee]*|*[Cc][Hh][Aa][Nn][Gg][Ee][Mm][Ee]*) bad="$bad $name(placeholder)" ;;
        *) [ "${#value}" -ge 12 ] || bad="$bad $name(under 12 characters)" ;;
    esac
done
if [ -n "$bad" ]; then
    echo "refusing to start: replace these secrets in docker/.env (e.g. openssl rand -hex 24):$bad" >&2
    exit 1
fi
echo "secrets: ok"
