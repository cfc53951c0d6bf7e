# Sizing a vLLM deployment with llamasize, both ways:
#
# 1. Typed variables from `llamasize plan ... --format tfvars` (llamasize.auto.tfvars.json, loaded
#    automatically; declared in variables.tf). Computed once, committed and reviewed.
# 2. The external data source below: Terraform runs `llamasize terraform-external` on every plan,
#    writes the query to its stdin and reads a flat map of strings back; the whole plan is one
#    JSON string under plan_json. llamasize must be on the PATH of the machine running Terraform.
#
# Providers: `terraform init` here downloads one provider, hashicorp/external (~> 2.3, from
# registry.terraform.io), for route 2 only. Route 1 alone (variables.tf and the tfvars file, without
# this file) needs no provider and runs offline; tests/test_examples.py runs it through a real
# `terraform` binary when one is on the PATH.

terraform {
  required_version = ">= 1.3"
  required_providers {
    external = {
      source  = "hashicorp/external"
      version = "~> 2.3"
    }
  }
}

data "external" "llamasize" {
  program = ["llamasize", "terraform-external"]

  # Keys are `llamasize plan`'s flag names in snake_case; every value is a string.
  query = {
    model  = "maverick"
    quant  = "int4"
    ctx    = "1M"
    engine = "vllm"
  }
}

locals {
  sized = data.external.llamasize.result
  plan  = jsondecode(data.external.llamasize.result.plan_json)

  # Route 1 and route 2 must agree when they were asked the same question.
  routes_agree = var.gpu_type == local.sized.gpu_type && var.gpu_count == tonumber(local.sized.gpu_count)
}

output "gpu_type" {
  value = var.gpu_type
}

output "gpu_count" {
  value = var.gpu_count
}

output "external_gpu_type" {
  value = local.sized.gpu_type
}

output "external_gpu_count" {
  value = tonumber(local.sized.gpu_count)
}

output "tensor_parallel_size" {
  value = tonumber(local.sized.tensor_parallel_size)
}

output "expert_parallel" {
  value = local.sized.expert_parallel == "true"
}

output "vllm_command" {
  value = local.sized.vllm_command
}

output "price_usd_per_hour" {
  value = local.sized.price_usd_per_hour == "" ? null : tonumber(local.sized.price_usd_per_hour)
}

output "headroom_fraction" {
  value = local.plan.recommendation.headroom_fraction
}

output "alternatives" {
  value = [for a in local.plan.alternatives : "${a.gpu_count} x ${a.gpu} (${a.quant})"]
}

output "routes_agree" {
  value = local.routes_agree
}
