# The Cap'n Proto contender's contract: the same Echo as
# dualrpc.v1.FileService/Echo, as a Cap'n Proto RPC interface.
@0x80112691c372b182;

interface EchoService {
  echo @0 (payload :Data) -> (payload :Data);
}
