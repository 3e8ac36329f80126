package bufcli

import "os"

var lookupEnv = os.Getenv
