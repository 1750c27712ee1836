#!/usr/bin/env bash
# Roll a component back.
#
#   deploy/rollback.sh api                      # to the previous revision (kubectl rollout undo)
#   deploy/rollback.sh portal latest-1767225600 # to a given immutable tag from Artifact Registry
#   deploy/rollback.sh list api                 # revisions in the cluster and tags in Artifact Registry
#
# The database schema is not rolled back: migrations are expand-only, so an older API runs on a newer schema.
# Settings: see deploy/common.sh (DEPLOY_ENV, NAMESPACE, PROJECT_ID, REGION, REPOSITORY, CLUSTER).
set -euo pipefail
# shellcheck source=deploy/common.sh
source "$(dirname "$0")/common.sh"

usage() { die "usage: $0 api|portal [latest-<epoch>]  or  $0 list api|portal"; }

if [ "${1:-}" = list ]; then
  component=${2:-}
  case "$component" in api | portal) ;; *) usage ;; esac
  kube_credentials
  kubectl -n "$NAMESPACE" rollout history "deployment/pacs-$component"
  if command -v gcloud >/dev/null 2>&1; then
    gcloud artifacts docker tags list "$(registry)/pacs-$component" --sort-by=~TAG --limit=20
  fi
  exit 0
fi

component=${1:-}
tag=${2:-}
case "$component" in
  api) container=api ;;
  portal) container=portal ;;
  *) usage ;;
esac
kube_credentials
if [ -n "$tag" ]; then
  case "$tag" in latest-[0-9]*) ;; *) die "tags are immutable latest-<epoch> tags, got '$tag'" ;; esac
  image="$(registry)/pacs-$component:$tag"
  echo "rolling $component back to $image"
  kubectl -n "$NAMESPACE" set image "deployment/pacs-$component" "$container=$image"
else
  echo "rolling $component back to its previous revision"
  kubectl -n "$NAMESPACE" rollout undo "deployment/pacs-$component"
fi
kubectl -n "$NAMESPACE" rollout status "deployment/pacs-$component" --timeout=600s
kubectl -n "$NAMESPACE" get deployment "pacs-$component" -o jsonpath='{.spec.template.spec.containers[0].image}{"\n"}'
