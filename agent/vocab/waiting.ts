// Why a container could not be started this sync: it becomes the container's waiting
// state (reason and message) in the pod status, and a Warning event.
export class Waiting extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
  }
}
