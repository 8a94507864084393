# The executors of a Sluice cluster, one per node: what `sluice framework nomad deploy`
# registers as "sluice-executor". Run it once sluice-master is healthy (its service
# must be in Nomad's catalog for the template below):
#
#   nomad job run -var binary=/usr/local/bin/sluice -var executors=3 \
#     examples/nomad/sluice-executor.nomad.hcl

variable "binary" {
  description = "Absolute path of the sluice binary on every node."
  type        = string
  default     = "/usr/local/bin/sluice"
}

variable "executors" {
  description = "Number of executors, at most one per node."
  type        = number
  default     = 1
}

variable "mem_tier_mb" {
  description = "MEM tier of each executor in MiB (in /dev/shm); reserved with the process's memory."
  type        = number
  default     = 1024
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

job "sluice-executor" {
  type        = "service"
  datacenters = var.datacenters
  priority    = 50

  meta = {
    "sluice.deployment" = "sluice"
    "sluice.role"       = "executor"
  }

  group "executor" {
    count = var.executors

    network {
      port "rpc" {}
      port "http" {}
    }

    # One executor per node.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    restart {
      attempts = 2
      interval = "1m"
      delay    = "5s"
      mode     = "fail"
    }

    reschedule {
      unlimited      = true
      delay          = "5s"
      delay_function = "exponential"
      max_delay      = "5m"
    }

    update {
      max_parallel      = 1
      health_check      = "checks"
      min_healthy_time  = "3s"
      healthy_deadline  = "2m"
      progress_deadline = "5m"
      auto_revert       = false
    }

    task "executor" {
      driver       = "raw_exec"
      kill_timeout = "30s"

      config {
        command = var.binary
        # The task ID is the allocation ID: the framework sidecar reports a stopped or
        # lost allocation to the master under it. A restarted task starts empty
        # (--format), as the sidecar reported it lost.
        args = [
          "executor",
          "--rpc-addr", "${NOMAD_ADDR_rpc}",
          "--http-addr", "${NOMAD_ADDR_http}",
          "--advertise-host", "${attr.unique.hostname}",
          "--task-id", "${NOMAD_ALLOC_ID}",
          "--format",
          "--mem-dir", "/dev/shm/sluice/sluice-${NOMAD_ALLOC_ID}",
          "--mem-size", "${var.mem_tier_mb}MiB",
          "--log-level", "info",
        ]
      }

      # Every master's gRPC address from Nomad's service catalog; a change restarts the
      # executor with the new list.
      template {
        data        = <<-EOT
          SLUICE_MASTER={{ range $i, $s := nomadService "sluice-master" }}{{ if $i }},{{ end }}{{ $s.Address }}:{{ $s.Port }}{{ end }}
        EOT
        destination = "local/master.env"
        env         = true
        change_mode = "restart"
      }

      service {
        name     = "sluice-executor"
        port     = "rpc"
        provider = "nomad"
        tags     = ["sluice", "executor"]

        check {
          name     = "executor-healthz"
          type     = "http"
          path     = "/healthz"
          port     = "http"
          interval = "5s"
          timeout  = "2s"

          check_restart {
            limit = 3
            grace = "1m"
          }
        }
      }

      resources {
        cpu    = 500
        # The process (512 MiB) and its MEM tier, which lives in memory.
        memory = 512 + var.mem_tier_mb
      }
    }

    # Frees the allocation's MEM tier when it stops.
    task "cleanup" {
      driver = "raw_exec"

      lifecycle {
        hook = "poststop"
      }

      config {
        command = "/bin/rm"
        args    = ["-rf", "/dev/shm/sluice/sluice-${NOMAD_ALLOC_ID}"]
      }

      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
