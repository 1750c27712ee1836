#!/usr/bin/env bash
# Roll one component out to the cluster with a given image:  deploy/rollout.sh api|portal IMAGE
#
# Renders k8s/overlays/$DEPLOY_ENV, puts IMAGE in for the component and keeps the other component at the image it
# runs now (a backend deploy never rolls the portal back), then applies in order:
#   1. everything but the API Deployment and the migration Job (config, services, PgCat, the portal, ...);
#   2. api only: the migration Job again with the new image, and waits for it (expand-only migrations, so the
#      running API keeps working meanwhile); a failed migration stops here, before the API changes;
#   3. api only: the API Deployment, and waits for the rolling update.
set -euo pipefail
# shellcheck source=deploy/common.sh
source "$(dirname "$0")/common.sh"

component=${1:-}
image=${2:-}
case "$component" in
  api | portal) ;;
  *) die "usage: $0 api|portal IMAGE" ;;
esac
[ -n "$image" ] || die "usage: $0 api|portal IMAGE"
overlay="$ROOT/k8s/overlays/$DEPLOY_ENV"
[ -f "$overlay/kustomization.yaml" ] || die "no overlay k8s/overlays/$DEPLOY_ENV"
kube_credentials

running_image() {
  kubectl -n "$NAMESPACE" get deployment "$1" -o jsonpath='{.spec.template.spec.containers[0].image}' \
    2>/dev/null || true
}

api_image=$(running_image pacs-api)
portal_image=$(running_image pacs-portal)
if [ "$component" = api ]; then api_image=$image; else portal_image=$image; fi
[ -n "$api_image" ] || die "pacs-api is not running in $NAMESPACE yet: deploy the backend first"

rendered=$(mktemp)
trap 'rm -f "$rendered"' EXIT
kubectl kustomize "$overlay" >"$rendered"
# Point every container of a component at its image (the overlay's own tag is only a placeholder).
sed -i -E "s#^([[:space:]]*image:[[:space:]]*)[^[:space:]]*pacs-api(:[^[:space:]]*)?[[:space:]]*\$#\1${api_image}#" "$rendered"
if [ -n "$portal_image" ]; then
  sed -i -E "s#^([[:space:]]*image:[[:space:]]*)[^[:space:]]*pacs-portal(:[^[:space:]]*)?[[:space:]]*\$#\1${portal_image}#" "$rendered"
fi

echo "rolling out $component=$image to namespace $NAMESPACE (overlay $DEPLOY_ENV)"
selector='app.kubernetes.io/component!=api,app.kubernetes.io/component!=migration'
if [ -z "$portal_image" ]; then selector="$selector,app.kubernetes.io/component!=portal"; fi
kubectl -n "$NAMESPACE" apply -f "$rendered" -l "$selector"

if [ "$component" = api ]; then
  kubectl -n "$NAMESPACE" delete job pacs-migrate --ignore-not-found --wait=true
  kubectl -n "$NAMESPACE" apply -f "$rendered" -l app.kubernetes.io/component=migration
  if ! kubectl -n "$NAMESPACE" wait --for=condition=complete job/pacs-migrate --timeout=600s; then
    kubectl -n "$NAMESPACE" logs job/pacs-migrate --tail=50 || true
    die "the migration job did not complete; the API was not changed"
  fi
  kubectl -n "$NAMESPACE" apply -f "$rendered" -l app.kubernetes.io/component=api
  kubectl -n "$NAMESPACE" rollout status deployment/pacs-api --timeout=600s
else
  kubectl -n "$NAMESPACE" rollout status deployment/pacs-portal --timeout=300s
fi
echo "done: $component is $image"
