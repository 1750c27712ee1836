#!/usr/bin/env bash
# Shared settings of the deploy scripts (backend/deploy-backend.sh, frontend/deploy-frontend.sh,
# deploy/rollout.sh, deploy/rollback.sh). Sourced, not run.
#
# Environment:
#   PROJECT_ID   Google Cloud project (default: gcloud's configured project)
#   REGION       Artifact Registry and cluster region (default europe-west1)
#   REPOSITORY   Artifact Registry Docker repository (default pacs)
#   DEPLOY_ENV   k8s/overlays/<DEPLOY_ENV> to roll out (default dev)
#   NAMESPACE    Kubernetes namespace (default: pacs-dev for dev, pacs for prod)
#   CLUSTER      GKE cluster; when set, credentials are fetched with gcloud (Cloud Build needs this)
#   TAG          image tag (default: latest-<Unix epoch>, read from / written to TAG_FILE when that is set, so
#                every step of one Cloud Build run uses the same tag)

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
REGION=${REGION:-europe-west1}
REPOSITORY=${REPOSITORY:-pacs}
DEPLOY_ENV=${DEPLOY_ENV:-dev}
case "$DEPLOY_ENV" in
  prod) NAMESPACE=${NAMESPACE:-pacs} ;;
  *) NAMESPACE=${NAMESPACE:-pacs-$DEPLOY_ENV} ;;
esac
export ROOT REGION REPOSITORY DEPLOY_ENV NAMESPACE

die() {
  echo "error: $*" >&2
  exit 1
}

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (needed for this step)"
  done
}

project_id() {
  if [ -z "${PROJECT_ID:-}" ]; then
    need gcloud
    PROJECT_ID=$(gcloud config get-value project 2>/dev/null)
    [ -n "$PROJECT_ID" ] || die "set PROJECT_ID (or gcloud config set project ...)"
  fi
  echo "$PROJECT_ID"
}

# Artifact Registry path of the images, e.g. europe-west1-docker.pkg.dev/my-project/pacs
registry() {
  echo "${REGION}-docker.pkg.dev/$(project_id)/${REPOSITORY}"
}

# The immutable tag of this build: latest-<Unix epoch seconds>.
image_tag() {
  if [ -z "${TAG:-}" ]; then
    if [ -n "${TAG_FILE:-}" ] && [ -s "$TAG_FILE" ]; then
      TAG=$(cat "$TAG_FILE")
    else
      TAG="latest-$(date +%s)"
      if [ -n "${TAG_FILE:-}" ]; then echo "$TAG" >"$TAG_FILE"; fi
    fi
  fi
  case "$TAG" in
    latest-[0-9]*) ;;
    *) die "TAG must look like latest-<epoch>, got '$TAG'" ;;
  esac
  echo "$TAG"
}

kube_credentials() {
  need kubectl
  if [ -n "${CLUSTER:-}" ]; then
    need gcloud
    gcloud container clusters get-credentials "$CLUSTER" --region "$REGION" --project "$(project_id)" >/dev/null
  fi
}
