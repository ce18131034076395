#!/usr/bin/env bash
# The layer rule of docs/ARCHITECTURE.md: nothing includes upward. Each
# folder of src/ may include only the folders listed for it here; the HTTP
# layer may open the store but never call its operations (those go through
# the bus or auth). Prints every breach and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "$0")/../src"

declare -A allowed=(
    [util]="util"
    [net]="net util"
    [core]="core util"
    [store]="store core util"
    [bus]="bus store core util"
    [auth]="auth bus store core util"
    [serve]="serve net auth bus store core util"
    [client]="client core util"
    [bench]="bench client core util"
    [cli]="cli bench client core util"
)

status=0
for layer in "${!allowed[@]}"; do
    [ -d "$layer" ] || continue
    while IFS=: read -r file line target; do
        folder=${target%%/*}
        case " ${allowed[$layer]} " in
        *" $folder "*) ;;
        *)
            echo "src/$file:$line: $layer/ includes $target (a layer above it or beside it)"
            status=1
            ;;
        esac
    done < <(grep -rnoE '^#include "[a-z_]+/[^"]+"' "$layer" | sed -E 's/#include "([^"]+)"/\1/')
done

for folder in */; do
    folder=${folder%/}
    if [ -z "${allowed[$folder]+set}" ] && ls "$folder"/*.c >/dev/null 2>&1; then
        echo "src/$folder: a folder with no place in the layer map (scripts/check-layers.sh)"
        status=1
    fi
done

# serve/ opens and closes the store (server.c) and backs it up; every other
# use of the store goes through the bus or auth.
if grep -rn -- '->ops->' serve | grep -v '^serve/server\.c:'; then
    echo "serve/ calls the store's operations directly (above): go through bus/ or auth/"
    status=1
fi
exit $status
