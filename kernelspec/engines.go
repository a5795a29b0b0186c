package kernelspec

import (
	"fmt"
	"sort"
)

// Engines are the kernel.json variants ForEngine writes: how a Jupyter
// host starts the kernel. "local" is Jupyter's own launch with a
// connection file; the others go through the launcher contract
// (`wasipy-kernel launch`), which a provisioner or process proxy drives.
var Engines = map[string]string{
	"local":          "Jupyter starts the kernel with a connection file",
	"provisioner":    "wasipy's jupyter_client provisioner (no port race; kernelspec/provisioner)",
	"gp-distributed": "gateway_provisioners' DistributedProvisioner (ssh to remote hosts that have this binary)",
	"gp-docker":      "gateway_provisioners' DockerProvisioner (the wasipy image)",
	"gp-kubernetes":  "gateway_provisioners' KubernetesProvisioner (the wasipy image)",
	"eg-distributed": "Enterprise Gateway's DistributedProcessProxy",
	"eg-docker":      "Enterprise Gateway's DockerProcessProxy (the wasipy image)",
	"eg-kubernetes":  "Enterprise Gateway's KubernetesProcessProxy (the wasipy image)",
}

// EngineNames lists Engines' keys in order.
func EngineNames() []string {
	out := make([]string, 0, len(Engines))
	for k := range Engines {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// launcherArgs are the gateways' substitution fields: jupyter_client's
// provisioners and Enterprise Gateway's process proxies fill them in.
func launcherArgs(prefix string) []string {
	return []string{
		prefix + "kernel-id", "{kernel_id}",
		prefix + "port-range", "{port_range}",
		prefix + "response-address", "{response_address}",
		prefix + "public-key", "{public_key}",
	}
}

// ForEngine turns the local spec s (from New) into the variant for an
// engine. image names the container image for the docker and kubernetes
// engines, whose argv runs the gateway's own container launcher script
// (scripts/launch_docker.py or launch_kubernetes.py, from
// gateway_provisioners or Enterprise Gateway, copied into the kernelspec
// folder): that script starts the image, whose command is `wasipy-kernel
// launch` reading the same values from the environment. The language
// stays "python", so tools that pick a kernel by language find it.
func ForEngine(s Spec, engine, image string) (Spec, error) {
	if _, ok := Engines[engine]; !ok {
		return s, fmt.Errorf("kernelspec: unknown engine %q (want one of %v)", engine, EngineNames())
	}
	container := engine == "gp-docker" || engine == "gp-kubernetes" || engine == "eg-docker" || engine == "eg-kubernetes"
	if container && image == "" {
		return s, fmt.Errorf("kernelspec: engine %s needs an image name", engine)
	}
	if !container && image != "" {
		return s, fmt.Errorf("kernelspec: engine %s runs no image", engine)
	}
	md := map[string]any{}
	for k, v := range s.Metadata {
		md[k] = v
	}
	s.Metadata = md
	binary, extra := s.Argv[0], s.Argv[1:len(s.Argv)-2] // without --connection-file {connection_file}
	launch := append([]string{binary, "launch"}, extra...)
	switch engine {
	case "local":
	case "provisioner":
		// The argv stays the connection-file one, which the provisioner
		// rewrites: without the provisioner the same argv still works.
		md["kernel_provisioner"] = map[string]any{"provisioner_name": "wasipy-provisioner", "config": map[string]any{}}
	case "gp-distributed":
		s.Argv = append(launch, launcherArgs("--")...)
		md["kernel_provisioner"] = map[string]any{"provisioner_name": "distributed-provisioner", "config": map[string]any{}}
	case "gp-docker", "gp-kubernetes":
		script := map[string]string{"gp-docker": "launch_docker.py", "gp-kubernetes": "launch_kubernetes.py"}[engine]
		name := map[string]string{"gp-docker": "docker-provisioner", "gp-kubernetes": "kubernetes-provisioner"}[engine]
		s.Argv = append([]string{"python3", "{resource_dir}/scripts/" + script}, launcherArgs("--")...)
		md["kernel_provisioner"] = map[string]any{"provisioner_name": name, "config": map[string]any{"image_name": image}}
	case "eg-distributed":
		s.Argv = append(launch, launcherArgs("--RemoteProcessProxy.")...)
		md["process_proxy"] = map[string]any{"class_name": "enterprise_gateway.services.processproxies.distributed.DistributedProcessProxy"}
	case "eg-docker", "eg-kubernetes":
		script := map[string]string{"eg-docker": "launch_docker.py", "eg-kubernetes": "launch_kubernetes.py"}[engine]
		class := map[string]string{
			"eg-docker":     "enterprise_gateway.services.processproxies.docker_swarm.DockerProcessProxy",
			"eg-kubernetes": "enterprise_gateway.services.processproxies.k8s.KubernetesProcessProxy",
		}[engine]
		s.Argv = append([]string{"python3", "{resource_dir}/scripts/" + script}, launcherArgs("--RemoteProcessProxy.")...)
		md["process_proxy"] = map[string]any{"class_name": class, "config": map[string]any{"image_name": image}}
	}
	return s, nil
}
