#!/usr/bin/env bash
# Build the portal image (npm ci && npm run build, served by nginx), tag it latest-<Unix epoch> (immutable), push it
# to Artifact Registry and roll it out. Cloud Build runs the two halves as separate steps.
#
#   frontend/deploy-frontend.sh            # build + push + rollout
#   frontend/deploy-frontend.sh build      # build + push only
#   frontend/deploy-frontend.sh rollout    # rollout only (TAG or TAG_FILE names the image)
#
# Settings: PROJECT_ID, REGION, REPOSITORY, DEPLOY_ENV, NAMESPACE, CLUSTER, TAG (see deploy/common.sh).
set -euo pipefail
# shellcheck source=deploy/common.sh
source "$(dirname "$0")/../deploy/common.sh"

step=${1:-all}
case "$step" in all | build | rollout) ;; *) die "usage: $0 [all|build|rollout]" ;; esac
image="$(registry)/pacs-portal:$(image_tag)"

if [ "$step" != rollout ]; then
  need docker
  docker build --pull --tag "$image" "$ROOT/frontend"
  docker push "$image"
  echo "pushed $image"
fi
if [ "$step" != build ]; then
  "$ROOT/deploy/rollout.sh" portal "$image"
fi
