// The bench worker's workflows: every workflow type of the service, plus the throughput baseline.
export * from '../src/workflows';
export { baselineFourNoops } from './baseline-workflows';
