# The variables `llamasize plan ... --format tfvars` writes (llamasize.auto.tfvars.json in this
# directory; Terraform loads *.auto.tfvars.json files automatically). Regenerate it with:
#
#   llamasize plan --model maverick --quant int4 --ctx 1M --format tfvars > llamasize.auto.tfvars.json
#
# One variable per key, typed as the JSON value is (`llamasize schema tfvars`).

variable "llamasize_model" {
  type        = string
  description = "llamasize registry id of the model."
}

variable "hf_model" {
  type        = string
  nullable    = true
  default     = null
  description = "Hugging Face repository to serve (null when the registry lists none)."
}

variable "gpu_type" {
  type        = string
  description = "llamasize catalogue id of the GPU."
}

variable "gpu_count" {
  type        = number
  description = "GPUs per replica."
}

variable "nodes" {
  type        = number
  description = "Nodes per replica."
}

variable "gpus_per_node" {
  type        = number
  description = "GPUs on each node."
}

variable "tensor_parallel_size" {
  type = number
}

variable "pipeline_parallel_size" {
  type = number
}

variable "expert_parallel" {
  type = bool
}

variable "quant" {
  type        = string
  description = "Weight format (llamasize id)."
}

variable "kv_cache_dtype" {
  type = string
}

variable "kv_layout" {
  type        = string
  description = "KV layout the plan assumes: full, or hybrid (the engine's hybrid KV manager must be on)."
}

variable "max_model_len" {
  type        = number
  description = "Context per sequence the plan was sized for (vLLM --max-model-len)."
}

variable "engine" {
  type = string
}

variable "price_usd_per_hour" {
  type        = number
  nullable    = true
  default     = null
  description = "On-demand price of the deployment (null when the catalogue has no price)."
}
