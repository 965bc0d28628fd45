// The store contract on SQLite, whatever database the rest of the run targets.
import { storeContract } from "./store-contract.ts";

storeContract("sqlite");
