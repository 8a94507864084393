# The masters of a Sluice cluster, with the framework sidecar that runs lineage jobs and
# recomputes as Nomad batch jobs. This is what `sluice framework nomad deploy` registers
# as "sluice-master" (one master, default ports); run it with
#
#   nomad job run -var binary=/usr/local/bin/sluice -var nomad_addr=http://10.0.0.1:4646 \
#     examples/nomad/sluice-master.nomad.hcl
#
# then, once it is healthy, examples/nomad/sluice-executor.nomad.hcl. See README.md here.

variable "binary" {
  description = "Absolute path of the sluice binary on every node."
  type        = string
  default     = "/usr/local/bin/sluice"
}

variable "nomad_addr" {
  description = "Nomad HTTP API address the framework sidecar uses from the master node."
  type        = string
  default     = "http://127.0.0.1:4646"
}

variable "data_dir" {
  description = "Directory on the master node for the Raft journal (and the default root UFS)."
  type        = string
  default     = "/var/lib/sluice/sluice"
}

variable "root_ufs" {
  description = "Root UFS, reachable from every node: s3://bucket/prefix, or a shared file system."
  type        = string
  default     = "file:///var/lib/sluice/sluice/ufs"
}

variable "datacenters" {
  type    = list(string)
  default = ["*"]
}

job "sluice-master" {
  type        = "service"
  datacenters = var.datacenters
  priority    = 50

  meta = {
    "sluice.deployment" = "sluice"
    "sluice.role"       = "master"
  }

  group "master" {
    count = 1

    network {
      # Static ports: every master of a three-master cluster knows its peers by them.
      port "rpc" {
        static = 19998
      }
      port "http" {
        static = 19999
      }
      port "raft" {
        static = 19200
      }
      port "framework" {}
    }

    # Two masters never share a node (their static ports would clash). For three
    # masters, set count = 3, pin them with a constraint on ${node.unique.id} and pass
    # --peers RAFT=RPC,... to each (what `deploy --masters 3` does).
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

    # The FrameworkScheduler for this master: lineage jobs and recomputes become batch
    # jobs "sluice-job-<id>-<attempt>"; a stopped or lost executor allocation is
    # reported to the master at once.
    task "framework" {
      driver = "raw_exec"

      lifecycle {
        hook    = "prestart"
        sidecar = true
      }

      config {
        command = var.binary
        args = [
          "framework", "nomad", "serve",
          "--rpc-addr", "${NOMAD_ADDR_framework}",
          "--nomad-addr", var.nomad_addr,
          "--job-prefix", "sluice",
          "--driver", "raw_exec",
          "--log-level", "info",
        ]
      }

      # With ACLs, keep the sidecar's token in the job's own variable:
      #   nomad var put nomad/jobs/sluice-master nomad_token=<secret id>
      # template {
      #   data        = "{{ with nomadVar \"nomad/jobs/sluice-master\" }}NOMAD_TOKEN={{ .nomad_token }}{{ end }}"
      #   destination = "secrets/nomad-token.env"
      #   env         = true
      # }

      resources {
        cpu    = 100
        memory = 128
      }
    }

    task "master" {
      driver       = "raw_exec"
      kill_timeout = "30s"

      config {
        command = var.binary
        args = [
          "master",
          "--rpc-addr", "${NOMAD_ADDR_rpc}",
          "--http-addr", "${NOMAD_ADDR_http}",
          "--raft-addr", "${NOMAD_ADDR_raft}",
          "--journal-dir", "${var.data_dir}/journal",
          "--root-ufs", var.root_ufs,
          "--framework", "${NOMAD_ADDR_framework}",
          "--log-level", "info",
        ]
      }

      service {
        name     = "sluice-master"
        port     = "rpc"
        provider = "nomad"
        tags     = ["sluice", "master"]

        check {
          name     = "master-healthz"
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
        memory = 512
      }
    }
  }
}
